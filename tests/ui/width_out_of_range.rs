mod model {
    mobilenet::mobilenet!("width_out_of_range.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
