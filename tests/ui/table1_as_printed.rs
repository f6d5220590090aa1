// Table 1 of the paper as printed, with stride 2 on row 17: the shapes must refute it.
mod model {
    mobilenet::mobilenet!("table1_as_printed.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
