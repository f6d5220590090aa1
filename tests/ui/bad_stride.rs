mod model {
    mobilenet::mobilenet!("bad_stride.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
