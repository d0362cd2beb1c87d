import Figures
import Foundation
import Networks
import TensorAlgebra
import Training

/// The figures of a training run, as `train` writes them beside metrics.json: `curves.svg`
/// (loss and accuracy per epoch and step), `distances.svg` (‖Wˡ − σI‖/‖σI‖ of every layer during
/// training) and, once the run is evaluated, `layers.svg` (readout accuracy and distance per
/// layer).
///
/// ```swift
/// session.reportFiles = TrainingFigures.files
/// ```
public enum TrainingFigures {
    public static func files<Scalar: BLASScalar>(
        _ session: TrainingSession<Scalar>, evaluation: Evaluation?
    ) -> [TrainingSession<Scalar>.ReportFile] {
        let model = session.trainer.classifier.configuration
        let c = session.trainer.configuration
        let title = "\(model.layers)-layer \(model.activation.rawValue) MLP, \(model.initialization.rawValue) σ = \(model.sigma), "
            + "\(c.optimizer.name) lr \(c.learningRate), batch \(c.batchSize)"
        var files = [
            TrainingSession<Scalar>.ReportFile(
                name: "curves.svg",
                contents: trainingCurvesFigure(history: session.trainer.history, stepLosses: session.stepLosses.map { ($0.step, $0.loss) },
                                               stepsPerEpoch: session.stepsPerEpoch, title: title).render()),
            TrainingSession<Scalar>.ReportFile(
                name: "distances.svg",
                contents: distanceTrajectoryFigure(trace: session.distanceTrace.map { ($0.step, $0.distanceFromIdentity) },
                                                   stepsPerEpoch: session.stepsPerEpoch,
                                                   title: "Distance from σI during training, every layer").render()),
        ]
        if let evaluation {
            files.append(TrainingSession<Scalar>.ReportFile(
                name: "layers.svg",
                contents: layerFigure(accuracies: evaluation.layerAccuracies, distances: session.trainer.classifier.distanceFromIdentity(),
                                      title: "Per layer: readout accuracy and distance from identity",
                                      classes: session.trainer.classifier.classes).render()))
        }
        return files
    }
}
