mod model {
    mobilenet::mobilenet!("many_errors.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
