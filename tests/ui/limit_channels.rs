// Limit: at most 65,536 channels (and classes).
mod model {
    mobilenet::mobilenet!("limit_channels.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
