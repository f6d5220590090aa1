//! Person detection on a microcontroller: runs TFLite Micro's `person_detect` model in the
//! `examples/mcu` firmware (no heap, no std, 64 KB of RAM) on a Cortex-M4F emulated by QEMU, and
//! prints its raw int8 scores and the firmware's memory, measured from the binary.
//!
//! ```sh
//! tools/mcu_person_detect.sh photo.png                          # any 96x96 picture
//! tools/mcu_person_detect.sh --raw assets/tflite-micro/person.bmp # TFLite Micro's test images
//! ```
//!
//! prints
//!
//! ```text
//! person: 113  no person: -113
//! flash: ... bytes (...)
//! RAM: ... bytes of 65,536 = static ... + stack high-water mark ...
//! ```
//!
//! A picture's gray level p becomes the int8 value p - 128. `--raw` takes an 8-bit BMP whose
//! pixel bytes are the int8 tensor itself, as TFLite Micro's `person.bmp` and `no_person.bmp`
//! are. The firmware is built (release, into `target/mcu`) on first use; it needs the
//! `thumbv7em-none-eabihf` target and `qemu-system-arm` (`tools/install_test_deps.sh`).
//! docs/mcu.md says how each figure is measured.

#[path = "mcu_person_detect/host.rs"]
mod host;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: mcu_person_detect [--raw] <image>
  <image>   a 96x96 picture (PNG, JPEG, WebP, BMP); gray level p is fed as p - 128
  --raw     the image is an 8-bit BMP whose pixel bytes are the int8 input tensor
            (TFLite Micro's assets/tflite-micro/person.bmp and no_person.bmp)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let (mut raw, mut image) = (false, None::<PathBuf>);
    let mut args = lexopt::Parser::from_env();
    while let Some(arg) = args.next().map_err(|e| e.to_string())? {
        match arg {
            lexopt::Arg::Long("raw") => raw = true,
            lexopt::Arg::Long("help") | lexopt::Arg::Short('h') => {
                println!("{USAGE}");
                return Ok(());
            }
            lexopt::Arg::Value(v) if image.is_none() => image = Some(v.into()),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    let image = image.ok_or_else(|| format!("no image given\n{USAGE}"))?;
    let input = if raw {
        host::raw_bmp_input(&image)?
    } else {
        host::picture_input(&image)?
    };
    let elf = host::build_firmware()?;
    let run = host::run(&elf, &input)?;
    let sizes = host::Sizes::read(&elf)?;
    println!("person: {}  no person: {}", run.scores[1], run.scores[0]);
    print!("{}", host::report(&sizes, &run));
    Ok(())
}
