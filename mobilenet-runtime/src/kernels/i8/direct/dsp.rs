//! The direct kernels' dot product on ARM's DSP extension (ARMv7E-M: Cortex-M4 and M7; and
//! ARMv7-A), four multiply-adds at a time: `SXTB16` sign-extends bytes 0 and 2 of a word (or,
//! rotated, 1 and 3) into two 16-bit halves, `SSUB16` subtracts the zero point from both
//! halves, and `SMLAD` adds both halves' products to the accumulator. A value minus its zero
//! point lies in -255..=255, so the halves never wrap; `SMLAD` keeps the low 32 bits of the sum
//! (it only sets the Q flag on overflow), which is the portable loop's wrapping sum, in another
//! order: the same bits. `tools/test_armv7.sh` runs the direct kernels' tests on this path
//! under QEMU, and the firmware test checks whole networks on a Cortex-M4.

use core::arch::asm;

/// Bytes 0 and 2 of `x`, each sign-extended to 16 bits.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: SXTB16 only reads and writes the named registers (no memory, no stack, no
    // flags); every ARM core with the DSP extension, which the cfg `arm_dsp` requires, has it.
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// Bytes 1 and 3 of `x`, each sign-extended to 16 bits.
#[inline(always)]
fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: as in `sxtb16`.
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// Both 16-bit halves of `a` minus those of `b`, each wrapping.
#[inline(always)]
fn ssub16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: SSUB16 reads and writes registers only; it sets the APSR.GE flags, which no
    // code here reads and which the asm block does not promise to keep.
    unsafe {
        asm!("ssub16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack))
    };
    r
}

/// `acc` plus the products of the low halves and of the high halves of `a` and `b` (signed
/// 16-bit), the low 32 bits of the sum.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: SMLAD reads and writes registers only; it may set the APSR.Q flag, which no
    // code here reads and which the asm block does not promise to keep.
    unsafe {
        asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

/// A zero point in both 16-bit halves.
#[inline(always)]
fn both_halves(zp: i32) -> u32 {
    let half = u32::from(zp as i16 as u16);
    half | (half << 16)
}

/// Four int8 values as one little-endian word.
#[inline(always)]
fn word(v: &[i8]) -> u32 {
    u32::from_le_bytes([v[0] as u8, v[1] as u8, v[2] as u8, v[3] as u8])
}

/// `acc + sum (x - izp) * (w - wzp)` over two slices of the same length, wrapping.
#[inline(always)]
pub(super) fn dot(x: &[i8], w: &[i8], izp: i32, wzp: i32, mut acc: i32) -> i32 {
    let (zx, zw) = (both_halves(izp), both_halves(wzp));
    let (mut xs, mut ws) = (x.chunks_exact(4), w.chunks_exact(4));
    for (x4, w4) in (&mut xs).zip(&mut ws) {
        let (xv, wv) = (word(x4), word(w4));
        acc = smlad(ssub16(sxtb16(xv), zx), ssub16(sxtb16(wv), zw), acc);
        acc = smlad(ssub16(sxtb16_ror8(xv), zx), ssub16(sxtb16_ror8(wv), zw), acc);
    }
    for (&x, &w) in xs.remainder().iter().zip(ws.remainder()) {
        acc = acc.wrapping_add((i32::from(x) - izp) * (i32::from(w) - wzp));
    }
    acc
}
