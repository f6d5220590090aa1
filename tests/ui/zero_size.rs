mod model {
    mobilenet::mobilenet!("zero_size.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
