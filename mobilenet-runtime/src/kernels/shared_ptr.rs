//! A raw pointer that the threads of one team split may share.

/// A pointer that the parts of one [`crate::Team`] split share; each part touches only its
/// own elements. Any element type, so that kernels of every data type split the same way.
pub(crate) struct SharedPtr<T>(pub *mut T);

// Derived impls would ask `T: Copy`; the pointer is copyable whatever it points to.
impl<T> Clone for SharedPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedPtr<T> {}

// SAFETY: used only to hand disjoint parts of one buffer to the threads of one `Team` split,
// which returns only after every part is done.
unsafe impl<T> Sync for SharedPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Send for SharedPtr<T> {}

impl<T> SharedPtr<T> {
    /// The pointer. A method, so that closures capture the `Sync` wrapper, not the field.
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}
