mod model {
    mobilenet::mobilenet!("filter_arity.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
