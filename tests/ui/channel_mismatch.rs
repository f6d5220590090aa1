mod model {
    mobilenet::mobilenet!("channel_mismatch.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
