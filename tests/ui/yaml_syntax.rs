mod model {
    mobilenet::mobilenet!("yaml_syntax.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
