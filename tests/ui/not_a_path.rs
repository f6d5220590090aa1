mod model {
    mobilenet::mobilenet!(specs / v1);
}

fn main() {}
