//! Person detection on a Cortex-M4F: TFLite Micro's `person_detect` model, compiled by
//! `mobilenet!` with its weights in flash, run with no heap and no std in 64 KB of RAM.
//!
//! Under QEMU's `mps2-an386` board, with semihosting on, the firmware reads the path of a
//! 9216-byte file from its command line (`-semihosting-config ...,arg=<path>`), reads the file
//! straight into the model's input slot in the arena (so the image costs no RAM of its own),
//! runs the forward pass and prints
//!
//! ```text
//! person: <score>  no person: <score>
//! arena: <bytes> bytes
//! stack high-water mark: <bytes> bytes
//! ```
//!
//! with the raw int8 scores, then exits QEMU. The file's bytes are the int8 input tensor, one
//! byte per pixel, rows top-down. `tools/mcu_person_detect.sh` makes such a file from a picture
//! and runs all of it; docs/mcu.md has the memory map and how each figure is measured.

#![no_std]
#![no_main]
#![warn(clippy::undocumented_unsafe_blocks)]

use core::ptr::addr_of;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln, nr, syscall, syscall1};
use panic_semihosting as _;

/// TFLite Micro's person_detect model, its table checked and its weights read from the
/// `.tflite` file at compile time: the parameters are static data in flash, and `Arena` is the
/// only RAM the forward pass needs.
mod person {
    mobilenet::mobilenet!(
        "../../specs/tflite/quant/person_detect.yaml",
        weights = "../../assets/tflite-micro/person_detect.tflite"
    );
}

/// What the stack is painted with before the run; a word still holding it was never written.
const PAINT: u32 = 0xC0DE_F00D;

extern "C" {
    // Placed by cortex-m-rt's link.x: the end of .bss (and .uninit), where the stack's room
    // ends, and the top of RAM, where the stack starts and grows down from.
    static _stack_end: u32;
    static _stack_start: u32;
}

#[entry]
fn main() -> ! {
    // cortex-m-rt turns a `static mut` declared here into a `&'static mut` that only `main`
    // holds: the arena is a zeroed static, so it sits in .bss, and is never built on the stack,
    // as `cortex_m::singleton!` would build it before moving it in (55 KB of stack).
    static mut ARENA: person::Arena = person::Arena::new();

    paint_stack();
    if let Err(e) = read_input(person::input_mut(ARENA)) {
        hprintln!("error: {}", e);
        exit(debug::EXIT_FAILURE);
    }
    let scores = person::forward_in_arena(ARENA);
    hprintln!("person: {}  no person: {}", scores[1], scores[0]);
    // The scan comes after the scores are printed so that the mark covers the whole run: reading
    // the image, the forward pass and formatting. Printing the mark itself takes the same path
    // as printing the scores.
    let stack = stack_high_water();
    hprintln!("arena: {} bytes", person::ARENA_BYTES);
    hprintln!("stack high-water mark: {} bytes", stack);
    exit(debug::EXIT_SUCCESS)
}

/// Ends the run: QEMU exits with `status`; on a board with no debugger attached, the core
/// stays here.
fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    #[allow(clippy::empty_loop)] // nothing is left to do, and no interrupt is enabled
    loop {}
}

/// Why the image could not be read.
type Error = &'static str;

/// Reads the file named on the semihosting command line into `input`; it must hold exactly
/// `input.len()` bytes.
// Not inlined: its 256-byte path buffer would then sit in `main`'s frame, under the whole
// forward pass's stack.
#[inline(never)]
fn read_input(input: &mut [i8; person::INPUT_LEN]) -> Result<(), Error> {
    // SYS_GET_CMDLINE writes a NUL-terminated string and its length (without the NUL) into the
    // block; the NUL then ends the path for SYS_OPEN.
    let mut path = [0u8; 256];
    let mut block = [path.as_mut_ptr() as usize, path.len()];
    // SAFETY: the block points at `path` with its length, both live and writable during the
    // call, which writes only within them.
    if unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) } != 0 || block[1] == 0 {
        return Err("no input file (or its path is over 255 bytes): run QEMU with -semihosting-config enable=on,arg=<9216-byte file>");
    }
    let len = block[1];
    // SAFETY: `path` is NUL-terminated at `len` (SYS_GET_CMDLINE's contract), and lives through
    // the call, which only reads it.
    let handle = unsafe { syscall!(OPEN, path.as_ptr(), nr::open::R_BINARY, len) };
    if handle == usize::MAX {
        return Err("cannot open the input file");
    }
    // SAFETY: `handle` is an open file, as SYS_FLEN takes it.
    let file_len = unsafe { syscall!(FLEN, handle) };
    let result = if file_len != input.len() {
        Err("the input file must hold exactly 9216 bytes, the int8 96x96x1 tensor")
    } else {
        // SAFETY: the host writes at most `input.len()` bytes at `input`, which is live and
        // writable during the call; any byte is a valid i8.
        let unread = unsafe { syscall!(READ, handle, input.as_mut_ptr(), input.len()) };
        if unread == 0 {
            Ok(())
        } else {
            Err("cannot read the input file")
        }
    };
    // SAFETY: `handle` is open and not used after.
    unsafe { syscall!(CLOSE, handle) };
    result
}

/// Fills the free stack, from the end of .bss up to the stack pointer, with [`PAINT`].
#[inline(never)]
fn paint_stack() {
    // In assembly, because the stack pointer has to be read where the painting starts: read from
    // Rust, it may be read before the function's prologue pushes the return address below it
    // (the compiler's shrink-wrapping does that), and the paint would then overwrite it.
    // SAFETY: the loop writes aligned words (link.x asserts that `_stack_end` is 4-aligned) from
    // the end of .bss up to the stack pointer, in RAM that nothing uses: no interrupt is enabled
    // and the ARM ABI has no red zone below the stack pointer. It pushes nothing.
    unsafe {
        core::arch::asm!(
            "mov {end}, sp",
            "2:",
            "cmp {word}, {end}",
            "bhs 3f",
            "str {paint}, [{word}], #4",
            "b 2b",
            "3:",
            word = inout(reg) addr_of!(_stack_end) => _,
            end = out(reg) _,
            paint = in(reg) PAINT,
            options(nostack),
        );
    }
}

/// The stack's deepest reach since [`paint_stack`], in bytes from the top of RAM: the first word
/// from the bottom that no longer holds the paint.
#[inline(never)]
fn stack_high_water() -> usize {
    let (mut word, top) = (addr_of!(_stack_end), addr_of!(_stack_start));
    // SAFETY: every word from the end of .bss to the top of RAM is mapped RAM, aligned; the
    // scan stops at the current stack pointer at the latest, since the frames above it were
    // written.
    while word < top && unsafe { word.read_volatile() } == PAINT {
        // SAFETY: `word < top`, so one word on is at most `top`.
        word = unsafe { word.add(1) };
    }
    top as usize - word as usize
}
