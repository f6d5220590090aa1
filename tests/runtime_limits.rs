//! The run-time limits of the README's "Reliability" section, through the public API: what a
//! user's input can make `try_new`, `predict_batch` and `set_threads` do.

use mobilenet::runtime::interop::InputError;
use mobilenet::runtime::ndarray::Array4;
use mobilenet::runtime::parallel::MAX_THREADS;
use mobilenet::runtime::Team;

mod tiny {
    mobilenet::mobilenet!("tests/reference/specs/tiny_logits.yaml");
}

#[test]
fn try_new_gives_a_working_model() {
    let mut model = tiny::Model::try_new(tiny::Weights::random(3)).unwrap();
    let out = *model.forward(&[0.5; tiny::INPUT_LEN]);
    assert!(out.iter().all(|v| v.is_finite()));
}

#[test]
fn predict_batch_refuses_empty_and_misshapen_batches() {
    let [h, w, c] = tiny::INPUT_SHAPE;
    let model = tiny::Model::try_new(tiny::Weights::random(3)).unwrap();
    let e = model.predict_batch(Array4::zeros((0, h, w, c)).view()).unwrap_err();
    assert_eq!(
        e,
        InputError::EmptyBatch {
            found: vec![0, h, w, c]
        }
    );
    assert!(e.to_string().contains("no image"), "{e}");
    for shape in [(1, h, w, c + 1), (2, w + 1, h, c), (1, 0, 0, 0)] {
        let e = model.predict_batch(Array4::zeros(shape).view()).unwrap_err();
        assert!(matches!(e, InputError::BatchShape { .. }), "{shape:?}: {e}");
    }
    assert_eq!(
        model.predict_batch(Array4::zeros((3, h, w, c)).view()).unwrap().shape(),
        [3, tiny::NUM_CLASSES]
    );
}

#[test]
fn thread_counts_past_the_limit_are_errors() {
    for threads in [MAX_THREADS + 1, usize::MAX] {
        let Err(e) = Team::new(threads) else {
            panic!("{threads} threads were accepted")
        };
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let mut model = tiny::Model::new(tiny::Weights::random(3));
        assert!(model.set_threads(threads).is_err());
        assert_eq!(model.threads(), 1, "keeps its old threads");
    }
}
