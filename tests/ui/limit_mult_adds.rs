// Limit: at most 10^15 mult-adds per image.
mod model {
    mobilenet::mobilenet!("limit_mult_adds.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
