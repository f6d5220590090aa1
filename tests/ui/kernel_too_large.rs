mod model {
    mobilenet::mobilenet!("kernel_too_large.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
