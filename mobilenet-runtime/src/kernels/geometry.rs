//! Window geometry of strided, padded convolutions, shared by every convolution kernel
//! (standard and depthwise, every path): which taps of an output position land inside the
//! input, and which output positions need no clamping at all.

/// Taps `[lo, hi)` of output position `o` that land inside an input of `n` positions, for a
/// window of `k` taps at stride `s` after `p` leading zeros: tap `t` reads `o * s + t - p`.
#[inline(always)]
pub(crate) fn taps(o: usize, n: usize, k: usize, s: usize, p: usize) -> (usize, usize) {
    let start = o * s;
    let lo = p.saturating_sub(start);
    let hi = (n + p).saturating_sub(start).min(k);
    (lo, hi.max(lo))
}

/// Output positions `[lo, hi)` (out of `n_out`) whose whole window lies inside the input, so
/// that they need no clamping; everything else is border.
#[cfg(feature = "std")]
#[inline(always)]
pub(crate) fn interior(n: usize, n_out: usize, k: usize, s: usize, p: usize) -> (usize, usize) {
    let lo = p.div_ceil(s).min(n_out);
    let hi = if n + p >= k {
        ((n + p - k) / s + 1).min(n_out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_ranges() {
        // 3 taps, pad 1, stride 1, input 5: first and last outputs lose one tap.
        assert_eq!(taps(0, 5, 3, 1, 1), (1, 3));
        assert_eq!(taps(2, 5, 3, 1, 1), (0, 3));
        assert_eq!(taps(4, 5, 3, 1, 1), (0, 2));
        // TF SAME, input 8, stride 2, pad 0: the last output loses its third tap.
        assert_eq!(taps(3, 8, 3, 2, 0), (0, 2));
        assert_eq!(interior(5, 5, 3, 1, 1), (1, 4));
        assert_eq!(interior(8, 4, 3, 2, 0), (0, 3));
        assert_eq!(interior(8, 4, 3, 2, 1), (1, 4));
        assert_eq!(interior(1, 1, 3, 1, 1), (1, 1));
    }
}
