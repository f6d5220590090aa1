// Limit: at most 2^32 stored weights (16 GiB).
mod model {
    mobilenet::mobilenet!("limit_weights.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
