mod model {
    mobilenet::mobilenet!("paper_disagrees.yaml");
}

fn main() {
    let _ = model::MULT_ADDS;
}
