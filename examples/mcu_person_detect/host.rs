//! The host's side of the person-detection firmware (`examples/mcu`): building it, turning an
//! image into the 9216 int8 bytes it reads, running it under QEMU, and reading its memory figures
//! from the ELF file. `examples/mcu_person_detect.rs` (behind `tools/mcu_person_detect.sh`) and
//! `tests/mcu.rs` share it, so the figures the test checks are the ones the command prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use object::{Object, ObjectSection, SectionFlags, SectionKind};

/// The firmware's target: Cortex-M4F and M7F, hard-float ABI.
pub const TARGET: &str = "thumbv7em-none-eabihf";
/// QEMU's board: ARM's AN386 FPGA image, a Cortex-M4 with an FPU.
pub const BOARD: &str = "mps2-an386";
/// 96 x 96 x 1 int8 pixels.
pub const INPUT_LEN: usize = 96 * 96;
/// Where RAM starts in `examples/mcu/memory.x`; every allocated section at or above it is RAM.
const RAM_ORIGIN: u64 = 0x2000_0000;
/// RAM's length in `examples/mcu/memory.x`: the whole budget, stack included.
pub const RAM_BUDGET: u64 = 64 * 1024;
/// Issue 23's flash budget for the whole firmware, in bytes.
pub const FLASH_BUDGET: u64 = 330_000;
/// A forward pass takes well under a second under QEMU; this only stops a hung firmware.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The repository's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the firmware is built: a folder of the root's target directory, shared by the test and
/// the command, so that each builds it once.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("mcu")
}

/// Checks that the thumb target and QEMU are installed; the error says what to install.
pub fn check_tools() -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let mut missing = Vec::new();
    if !sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        missing.push(format!("the {TARGET} target: `rustup target add {TARGET}`"));
    }
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !qemu.is_ok_and(|s| s.success()) {
        missing.push("QEMU for ARM: `apt-get install qemu-system-arm` (Debian, Ubuntu)".to_owned());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the microcontroller firmware needs {}; tools/install_test_deps.sh installs what is missing",
            missing.join(", and ")
        ))
    }
}

/// Builds the firmware in release mode and returns its ELF file.
pub fn build_firmware() -> Result<PathBuf, String> {
    check_tools()?;
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // From inside examples/mcu, so that its .cargo/config.toml is the one cargo reads; the
    // target is named anyway, and flags meant for the host must not reach the thumb build.
    let out = Command::new(cargo)
        .current_dir(root().join("examples/mcu"))
        .args(["build", "--release", "--locked", "--quiet", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_ENCODED_RUSTFLAGS", remapped_paths().join("\x1f"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The firmware's lock file lists the facade's dependencies too, so a new one there
        // makes it stale; the build does not rewrite a committed file behind the test's back.
        let hint = if stderr.contains("--locked") {
            "\nexamples/mcu/Cargo.lock is out of date: run `cargo build --release` in examples/mcu and commit the lock file"
        } else {
            ""
        };
        return Err(format!("the firmware (examples/mcu) does not build:\n{stderr}{hint}"));
    }
    Ok(target.join(TARGET).join("release/mobilenet-mcu"))
}

/// Flags that write the checkout's and cargo's folders into the firmware as fixed names. Panic
/// messages carry source paths into `.rodata`, so without them the flash figure would depend
/// on where the repository is cloned (a CI runner's path is not this machine's). The link
/// arguments come from `examples/mcu/build.rs`, which these flags cannot replace.
fn remapped_paths() -> Vec<String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut flags = vec![format!("--remap-path-prefix={}=/mobilenet", root().display())];
    if let Some(home) = cargo_home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags
}

/// An ordinary picture, 96x96: each pixel's gray level p (colour is converted) becomes p - 128.
pub fn picture_input(path: &Path) -> Result<Vec<i8>, String> {
    let image = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .to_luma8();
    if image.dimensions() != (96, 96) {
        let (w, h) = image.dimensions();
        return Err(format!(
            "{}: the model takes 96x96 pixels, this image is {w}x{h}",
            path.display()
        ));
    }
    // The shift by 128 is what TFLite Micro's example does to camera pixels; it is the input
    // tensor's zero point (-1) only approximately, exactly as the model was trained.
    Ok(image
        .into_raw()
        .into_iter()
        .map(|p| (i16::from(p) - 128) as i8)
        .collect())
}

/// TFLite Micro's own test images (`person.bmp`, `no_person.bmp`): an uncompressed 8-bit BMP
/// whose pixel bytes, rows top-down, are the int8 input tensor itself.
pub fn raw_bmp_input(path: &Path) -> Result<Vec<i8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fail = |why: &str| format!("{}: {why}", path.display());
    let u32_at = |at: usize| -> Result<u32, String> {
        let b = bytes.get(at..at + 4).ok_or_else(|| fail("truncated BMP header"))?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    if !bytes.starts_with(b"BM") {
        return Err(fail("not a BMP file"));
    }
    let (offset, width, height) = (u32_at(10)? as usize, u32_at(18)? as i32, u32_at(22)? as i32);
    let bits = bytes.get(28..30).map(|b| u16::from_le_bytes([b[0], b[1]]));
    if bits != Some(8) || u32_at(30)? != 0 {
        return Err(fail("--raw takes an uncompressed 8-bit BMP"));
    }
    if width != 96 || height.unsigned_abs() != 96 {
        return Err(fail(&format!(
            "the model takes 96x96 pixels, this image is {width}x{height}"
        )));
    }
    // Rows are padded to 4 bytes (96 already is) and stored bottom-up unless the height is
    // negative.
    let stride = 96usize.div_ceil(4) * 4;
    let mut input = Vec::with_capacity(INPUT_LEN);
    for row in 0..96 {
        let stored = if height > 0 { 95 - row } else { row };
        let start = offset + stored * stride;
        let pixels = bytes
            .get(start..start + 96)
            .ok_or_else(|| fail("truncated pixel data"))?;
        input.extend(pixels.iter().map(|&b| b as i8));
    }
    Ok(input)
}

/// What the firmware printed for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The model's output in its own order: index 0 "no person", 1 "person".
    pub scores: [i8; 2],
    /// The stack's high-water mark over the whole run, in bytes.
    pub stack: u64,
    /// The arena's size as the firmware's model module states it.
    pub arena: u64,
}

/// Runs the firmware under QEMU on `input` (9216 int8 values); `Err` holds what went wrong,
/// with everything QEMU printed.
pub fn run(elf: &Path, input: &[i8]) -> Result<Run, String> {
    if input.len() != INPUT_LEN {
        return Err(format!("the input holds {} values, not {INPUT_LEN}", input.len()));
    }
    // One file per call: the test runs images on several threads.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let file = std::env::temp_dir().join(format!(
        "mobilenet-mcu-{}-{}.bin",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, input.iter().map(|&v| v as u8).collect::<Vec<u8>>())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let result = run_file(elf, &file);
    let _ = std::fs::remove_file(&file);
    result
}

fn run_file(elf: &Path, input: &Path) -> Result<Run, String> {
    // The semihosting command line is the input's path; QEMU's option syntax doubles commas.
    let arg = input
        .to_str()
        .ok_or("the temporary folder's path is not UTF-8")?
        .replace(',', ",,");
    let mut child = Command::new("qemu-system-arm")
        .args(["-M", BOARD, "-nographic", "-monitor", "none", "-serial", "none"])
        .arg("-semihosting-config")
        .arg(format!("enable=on,target=native,arg={arg}"))
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run qemu-system-arm: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the firmware ran for over {RUN_TIMEOUT:?} under QEMU"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed = || format!("QEMU printed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    if !status.success() {
        return Err(format!("the firmware failed ({status}); {}", printed()));
    }
    parse(&stdout).ok_or_else(|| format!("the firmware's output is not as expected; {}", printed()))
}

/// Reads `person: <p>  no person: <n>`, `arena: <a> bytes` and
/// `stack high-water mark: <s> bytes` from the firmware's output.
fn parse(stdout: &str) -> Option<Run> {
    let mut scores = None;
    let (mut stack, mut arena) = (None, None);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("person: ") {
            let (person, no_person) = rest.split_once("  no person: ")?;
            scores = Some([no_person.trim().parse().ok()?, person.trim().parse().ok()?]);
        } else if let Some(rest) = line.strip_prefix("stack high-water mark: ") {
            stack = Some(rest.strip_suffix(" bytes")?.parse().ok()?);
        } else if let Some(rest) = line.strip_prefix("arena: ") {
            arena = Some(rest.strip_suffix(" bytes")?.parse().ok()?);
        }
    }
    Some(Run {
        scores: scores?,
        stack: stack?,
        arena: arena?,
    })
}

/// The firmware's allocated sections, read from its ELF file.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// (name, bytes in flash, bytes in RAM) of every allocated section that is not empty.
    pub sections: Vec<(String, u64, u64)>,
}

impl Sizes {
    /// Reads the section headers of the ELF file at `elf`.
    pub fn read(elf: &Path) -> Result<Self, String> {
        let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
        let mut sections = Vec::new();
        for section in file.sections() {
            let allocated = match section.flags() {
                SectionFlags::Elf { sh_flags } => sh_flags & u64::from(object::elf::SHF_ALLOC) != 0,
                _ => false,
            };
            if !allocated || section.size() == 0 {
                continue;
            }
            // A section with contents is in the flash image (.data as its load image, which the
            // reset handler copies to RAM); one whose address is in RAM takes RAM at run time.
            let flash = if section.kind() == SectionKind::UninitializedData {
                0
            } else {
                section.size()
            };
            let ram = if section.address() >= RAM_ORIGIN {
                section.size()
            } else {
                0
            };
            sections.push((section.name().unwrap_or("?").to_owned(), flash, ram));
        }
        Ok(Sizes { sections })
    }

    /// Bytes of flash: code, constants (the weights among them), the vector table, .data's image.
    pub fn flash(&self) -> u64 {
        self.sections.iter().map(|s| s.1).sum()
    }

    /// Bytes of RAM fixed at link time: .data and .bss (the arena among them).
    pub fn static_ram(&self) -> u64 {
        self.sections.iter().map(|s| s.2).sum()
    }

    /// "`.text` 1,234 + `.rodata` 5,678", of flash (`ram == false`) or RAM.
    pub fn breakdown(&self, ram: bool) -> String {
        let parts: Vec<String> = self
            .sections
            .iter()
            .map(|(name, flash, in_ram)| (name, if ram { *in_ram } else { *flash }))
            .filter(|(_, bytes)| *bytes > 0)
            .map(|(name, bytes)| format!("`{name}` {}", thousands(bytes)))
            .collect();
        parts.join(" + ")
    }
}

/// 1234567 as "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The memory figures as the command prints them.
pub fn report(sizes: &Sizes, run: &Run) -> String {
    let total = sizes.static_ram() + run.stack;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flash: {} bytes of {} ({})",
        thousands(sizes.flash()),
        thousands(FLASH_BUDGET),
        sizes.breakdown(false).replace('`', "")
    );
    let _ = writeln!(
        out,
        "RAM: {} bytes of {} = static {} ({}; the arena {}) + stack high-water mark {}",
        thousands(total),
        thousands(RAM_BUDGET),
        thousands(sizes.static_ram()),
        sizes.breakdown(true).replace('`', ""),
        thousands(run.arena),
        thousands(run.stack),
    );
    out
}
