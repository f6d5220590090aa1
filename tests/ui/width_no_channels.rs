mod model {
    mobilenet::mobilenet!("width_no_channels.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
