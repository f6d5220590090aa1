//! What the generated forward pass calls around each layer, so that one body serves `forward`
//! (no hook: the calls compile to nothing), `forward_timed` and `forward_inspect`.

use std::time::{Duration, Instant};

/// Called before and after each layer of a generated forward pass.
pub trait LayerHook {
    /// Layer `layer` is about to run.
    fn before(&mut self, layer: usize);
    /// Layer `layer` has written `output` (H x W x C, NHWC).
    fn after(&mut self, layer: usize, output: &[f32]);
}

/// Does nothing: the plain forward pass.
pub struct NoHook;

impl LayerHook for NoHook {
    #[inline(always)]
    fn before(&mut self, _layer: usize) {}
    #[inline(always)]
    fn after(&mut self, _layer: usize, _output: &[f32]) {}
}

/// Adds each layer's wall time to `times[layer]`.
pub struct LayerTimer<'a> {
    times: &'a mut [Duration],
    start: Instant,
}

impl<'a> LayerTimer<'a> {
    /// A timer adding into `times`, one slot per layer.
    pub fn new(times: &'a mut [Duration]) -> Self {
        LayerTimer {
            times,
            start: Instant::now(),
        }
    }
}

impl LayerHook for LayerTimer<'_> {
    fn before(&mut self, _layer: usize) {
        self.start = Instant::now();
    }
    fn after(&mut self, layer: usize, _output: &[f32]) {
        self.times[layer] += self.start.elapsed();
    }
}

/// Hands each layer's output to a closure.
pub struct Inspect<F>(pub F);

impl<F: FnMut(usize, &[f32])> LayerHook for Inspect<F> {
    fn before(&mut self, _layer: usize) {}
    fn after(&mut self, layer: usize, output: &[f32]) {
        (self.0)(layer, output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_adds_into_the_layer_slot() {
        let mut times = [Duration::ZERO; 2];
        let mut t = LayerTimer::new(&mut times);
        t.before(1);
        std::thread::sleep(Duration::from_millis(2));
        t.after(1, &[]);
        assert_eq!(times[0], Duration::ZERO);
        assert!(times[1] >= Duration::from_millis(2));
    }

    #[test]
    fn inspect_sees_layer_and_output() {
        let mut seen = Vec::new();
        let mut hook = Inspect(|i: usize, out: &[f32]| seen.push((i, out.to_vec())));
        hook.before(3);
        hook.after(3, &[1.0, 2.0]);
        assert_eq!(seen, vec![(3, vec![1.0, 2.0])]);
    }
}
