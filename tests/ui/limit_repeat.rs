// Limit: `repeat` at most 1024 (issue 24: `repeat: 1000000000` in Table 1 took rustc down).
mod model {
    mobilenet::mobilenet!("limit_repeat.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
