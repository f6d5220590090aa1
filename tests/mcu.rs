//! Person detection on a microcontroller (issue 23): the `examples/mcu` firmware, built for
//! `thumbv7em-none-eabihf` and run under QEMU's Cortex-M4F board, gives TFLite Micro's bytes
//! on each image of `tests/reference/quant/person_detect.safetensors`, and fits 64 KiB of RAM
//! (stack included) and 330 kB of flash, as measured from the binary. The README's and
//! docs/mcu.md's figures are these measurements.
//!
//! The firmware needs the thumb target and `qemu-system-arm`. Without them these tests fail
//! and say what to install (`tools/install_test_deps.sh`): a test that passed without running
//! the firmware would check nothing.

#[allow(dead_code)]
#[path = "../examples/mcu_person_detect/host.rs"]
mod host;
#[path = "common/readme_blocks.rs"]
mod readme_blocks;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use std::fmt::Write as _;

use readme_blocks::expect_block;
use safetensors::{Dtype, SafeTensors};

/// One image of the reference file: its name, the int8 input fed to TFLite Micro and its output
/// ([no person, person]).
struct Case {
    image: String,
    input: Vec<i8>,
    output: [i8; 2],
}

fn reference() -> Vec<Case> {
    let path = host::root().join("tests/reference/quant/person_detect.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let int8 = |name: &str| -> Vec<i8> {
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.dtype(), Dtype::I8, "{name}");
        t.data().iter().map(|&b| b as i8).collect()
    };
    let mut images: Vec<&str> = st
        .names()
        .into_iter()
        .filter_map(|n| n.strip_suffix(".input"))
        .collect();
    images.sort();
    images
        .into_iter()
        .map(|image| Case {
            image: image.to_owned(),
            input: int8(&format!("{image}.input")),
            output: int8(&format!("{image}.output")).try_into().expect("two scores"),
        })
        .collect()
}

/// The firmware's ELF file, built once for every test here.
fn firmware() -> &'static Path {
    static ELF: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match ELF.get_or_init(host::build_firmware) {
        Ok(elf) => elf,
        Err(e) => panic!("{e}"),
    }
}

/// Each reference image with what the firmware printed for it, run once.
fn runs() -> &'static [(Case, host::Run)] {
    static RUNS: OnceLock<Vec<(Case, host::Run)>> = OnceLock::new();
    RUNS.get_or_init(|| {
        let elf = firmware();
        let cases = reference();
        assert!(cases.len() >= 3, "the reference file holds {} images", cases.len());
        // One QEMU per image, side by side.
        std::thread::scope(|s| {
            let handles: Vec<_> = cases
                .into_iter()
                .map(|case| s.spawn(move || (host::run(elf, &case.input), case)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    let (run, case) = h.join().unwrap();
                    let run = run.unwrap_or_else(|e| panic!("{}: {e}", case.image));
                    (case, run)
                })
                .collect()
        })
    })
}

/// The largest stack high-water mark over the images (the forward pass does the same work on
/// every image, so they agree, but the figure must not depend on which image ran).
fn stack() -> u64 {
    runs().iter().map(|(_, run)| run.stack).max().unwrap()
}

#[test]
fn firmware_gives_tflite_micros_bytes() {
    let mut wrong = Vec::new();
    for (case, run) in runs() {
        if run.scores != case.output {
            wrong.push(format!(
                "{}: the firmware printed person {}, no person {}; TFLite Micro gives person {}, no person {}",
                case.image, run.scores[1], run.scores[0], case.output[1], case.output[0]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let names: Vec<&str> = runs().iter().map(|(c, _)| c.image.as_str()).collect();
    for image in ["person", "no_person", "burger_gray"] {
        assert!(names.contains(&image), "the reference file has no {image}");
    }
}

#[test]
fn raw_bmps_are_the_reference_inputs() {
    // `--raw` must feed exactly what TFLite Micro was fed for its own test images.
    let cases = reference();
    for image in ["person", "no_person"] {
        let path = host::root().join(format!("assets/tflite-micro/{image}.bmp"));
        let input = host::raw_bmp_input(&path).unwrap();
        let case = cases.iter().find(|c| c.image == image).expect("in the reference file");
        assert!(
            input == case.input,
            "{image}.bmp read with --raw is not the reference input"
        );
    }
}

#[test]
fn a_picture_is_fed_as_gray_minus_128() {
    // burger_gray's input tensor written as an ordinary 8-bit gray PNG must read back as itself.
    let case = reference()
        .into_iter()
        .find(|c| c.image == "burger_gray")
        .expect("in the reference file");
    let pixels: Vec<u8> = case.input.iter().map(|&v| (i16::from(v) + 128) as u8).collect();
    let path = std::env::temp_dir().join(format!("mobilenet-mcu-{}-burger_gray.png", std::process::id()));
    image::GrayImage::from_raw(96, 96, pixels).unwrap().save(&path).unwrap();
    let input = host::picture_input(&path);
    let _ = std::fs::remove_file(&path);
    assert!(
        input.unwrap() == case.input,
        "the PNG of burger_gray's input does not read back as it"
    );
}

#[test]
fn firmware_fits_64_kib_of_ram_and_330_kb_of_flash() {
    let sizes = host::Sizes::read(firmware()).unwrap();
    let (flash, static_ram, stack) = (sizes.flash(), sizes.static_ram(), stack());
    assert!(
        flash <= host::FLASH_BUDGET,
        "flash is {flash} bytes ({}), over {}",
        sizes.breakdown(false),
        host::FLASH_BUDGET
    );
    // At the budget, the stack would have reached .bss: the paint was all overwritten.
    assert!(
        static_ram + stack < host::RAM_BUDGET,
        "RAM is {static_ram} static ({}) + {stack} of stack, not under {}",
        sizes.breakdown(true),
        host::RAM_BUDGET
    );
    let arena = runs()[0].1.arena;
    assert!(
        arena <= static_ram,
        "the arena ({arena} bytes) is not in static RAM ({static_ram})"
    );
}

/// The README's table: our figures, measured, beside TFLite Micro's and MicroFlow's published
/// ones (their figures are quoted with their sources in README.md and docs/mcu.md).
fn readme_table(sizes: &host::Sizes, run: &host::Run) -> String {
    let kb = |bytes: u64| format!("{:.1} kB", bytes as f64 / 1000.0);
    let mut out = String::from(
        "| person detection, int8 | flash | RAM: static | RAM: stack (high-water) | RAM: total |\n\
         | --- | ---: | ---: | ---: | ---: |\n",
    );
    let _ = writeln!(
        out,
        "| **ours**, Cortex-M4F under QEMU (measured from the binary) | {} | {} | {} | **{}** |",
        kb(sizes.flash()),
        kb(sizes.static_ram()),
        kb(run.stack),
        kb(sizes.static_ram() + run.stack),
    );
    out.push_str(
        "| TFLite Micro's example (`kTensorArenaSize`) | | 139.3 kB arena (136 KiB) + interpreter | | |\n\
         | TFLite Micro, nRF52840 (Cortex-M4F), as MicroFlow measured it | 459.6 kB | | | 143.7 kB |\n\
         | MicroFlow, nRF52840 (Cortex-M4F), published | 391.7 kB | | | 96.0 kB |\n",
    );
    let _ = writeln!(
        out,
        "\nOurs: flash = {}; static RAM = {}, of which the arena is {}; 1 kB = 1,000 bytes.",
        sizes.breakdown(false),
        sizes.breakdown(true),
        host::thousands(run.arena),
    );
    out
}

#[test]
fn readme_memory_figures_are_the_measured_ones() {
    let sizes = host::Sizes::read(firmware()).unwrap();
    let run = host::Run {
        stack: stack(),
        ..runs()[0].1
    };
    expect_block("README.md", "mcu-memory", &readme_table(&sizes, &run));
    expect_block(
        "docs/mcu.md",
        "mcu-report",
        &format!("```text\n{}```\n", host::report(&sizes, &run)),
    );
}
