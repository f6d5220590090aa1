// Limit: at most 1024 rows after `repeat` expansion.
mod model {
    mobilenet::mobilenet!("limit_rows.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
