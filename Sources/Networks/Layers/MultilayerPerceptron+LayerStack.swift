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
