mod model {
    mobilenet::mobilenet!("fc_not_1x1.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
