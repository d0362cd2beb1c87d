import Figures
import Foundation
import Networks
import TensorAlgebra
import Training

/// The figures of a training run, as `train` writes them beside metrics.json, each at double-
/// column width and, with `-column` in its name, at single-column width (``FigureWidth``):
/// `curves.svg` (loss and accuracy per epoch and step), `distances.svg` (‖Wˡ − σI‖/‖σI‖ of every
/// layer during training) and, once the run is evaluated, `layers.svg` (readout accuracy per
/// layer).
///
/// ```swift
/// session.reportFiles = TrainingFigures.files
/// ```
public enum TrainingFigures {
    /// The figures' names without extension, the double-column ones first: "curves",
    /// "distances", "layers", then "curves-column", … (what `files` writes, as `.svg`).
    public static let names: [String] = FigureWidth.allCases.reversed().flatMap { width in
        ["curves", "distances", "layers"].map { width.fileName($0) }
    }

    public static func files<Scalar: BLASScalar>(
        _ session: TrainingSession<Scalar>, evaluation: Evaluation?
    ) -> [TrainingSession<Scalar>.ReportFile] {
        let model = session.trainer.classifier.configuration
        let c = session.trainer.configuration
        let title = "\(model.layers)-layer \(model.activation.rawValue) MLP, \(model.initialization.rawValue) σ = \(model.sigma), "
            + "\(c.optimizer.name) lr \(c.learningRate), batch \(c.batchSize)"
        var files: [TrainingSession<Scalar>.ReportFile] = []
        for width in FigureWidth.allCases.reversed() {
            files.append(TrainingSession<Scalar>.ReportFile(
                name: width.fileName("curves.svg"),
                contents: trainingCurvesFigure(history: session.trainer.history, stepLosses: session.stepLosses.map { ($0.step, $0.loss) },
                                               stepsPerEpoch: session.stepsPerEpoch, title: title, width: width).render()))
            files.append(TrainingSession<Scalar>.ReportFile(
                name: width.fileName("distances.svg"),
                contents: distanceTrajectoryFigure(trace: session.distanceTrace.map { ($0.step, $0.distanceFromIdentity) },
                                                   stepsPerEpoch: session.stepsPerEpoch,
                                                   title: "Distance from σI during training, every layer", width: width).render()))
            if let evaluation {
                files.append(TrainingSession<Scalar>.ReportFile(
                    name: width.fileName("layers.svg"),
                    contents: layerFigure(accuracies: evaluation.layerAccuracies, title: "Readout accuracy of each layer's class dimensions",
                                          classes: session.trainer.classifier.classes, width: width).render()))
            }
        }
        return files
    }
}
