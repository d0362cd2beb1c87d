import TensorAlgebra

extension LayerStack {
    /// The same function as `network`, as a stack: for each of its layers a ``Dense`` (its
    /// weight and bias) followed by an ``ActivationLayer`` of its activation, the last layer
    /// included (the identity classifier applies φ to its logits too). Layer 2l is the
    /// network's layer l, so its parameters are `<2l>.weight` and `<2l>.bias`.
    ///
    /// The bridge by which the trainer, analyzer and interpreter can move to stacks while
    /// `IdentityClassifier` still holds a `MultilayerPerceptron`.
    public init(_ network: MultilayerPerceptron<Scalar>) {
        var layers: [any Layer<Scalar>] = []
        for (weight, bias) in zip(network.weights, network.biases) {
            layers.append(Dense(weight: weight, bias: bias))
            layers.append(ActivationLayer<Scalar>(activation: network.activation))
        }
        self.init(inputShape: [network.inputWidth], layers: layers)
    }
}

extension IdentityClassifier {
    /// The classifier as a layer stack with its class dimensions: one configuration of the
    /// one model (square `features + classes` layers, φ between them, the class scores in the
    /// last `classes` units). Its output is the last pre-activation, whose class units are the
    /// classifier's ``logits(_:)``, the quantity the loss and the interpreter read; the
    /// spectrum analyzer's J of ``network`` also passes the last φ (docs/theory.md §2).
    public var stack: LayerStack<Scalar> {
        let plain = LayerStack(network)
        return LayerStack(inputShape: plain.inputShape, layers: Array(plain.layers.dropLast()),
                          classDimensions: ClassDimensions(features: inputFeatures, classes: classes))
    }
}
