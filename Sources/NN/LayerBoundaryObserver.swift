/// Told by `Sequential` when a layer is about to read its parameters and when a layer's
/// parameter gradients are final, so that data-parallel training can overlap communication with
/// computation (as PyTorch DDP's autograd hooks do): gradients can leave as soon as backward has
/// produced them, and new parameters need only arrive by the time forward reaches their layer.
package protocol LayerBoundaryObserver: AnyObject {
    /// Layer `layer`'s forward is about to run: every parameter tensor of layers `0...layer`
    /// must hold its current values from now on.
    func willRunForward(layer: Int)
    /// Layer `layer`'s backward has finished: the gradients of the parameter tensors of layers
    /// `layer...` are final for this pass (a layer adds only to its own tensors and to earlier
    /// layers' tied tensors, never to later ones).
    func didFinishBackward(layer: Int)
}
