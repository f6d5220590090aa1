// Limit: resolution, heights, widths and kernels at most 8192 pixels. Issue 24's f279: Table 1
// extended at resolution 99999999 overflowed the counts. The stubs keep every use of the
// model's items, `try_new` included, from adding errors of their own.
mod model {
    mobilenet::mobilenet!("limit_resolution.yaml");
}

fn main() {
    let model = model::Model::try_new(model::Weights::random(0));
    let _ = (model, model::MULT_ADDS, model::ARENA_LEN, [0.0f32; model::INPUT_LEN]);
}
