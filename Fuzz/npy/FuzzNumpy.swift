// libFuzzer target for the .npy reader (NumpyArray(data:)); built and run by Scripts/fuzz.sh.
// Whatever the bytes, the reader must return or throw NumpyFileError: no crash, no hang, and
// no allocation beyond the memory limit it is given. What it accepts must survive what its
// callers do with it (conversion to a tensor) and round-trip through the writer.
import TensorAlgebra
import FileFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumpy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let array: NumpyArray
    do {
        array = try NumpyArray(data: bytes, source: "fuzz", memoryLimit: 64 << 20)
    } catch let error as NumpyFileError {
        _ = error.description
        return 0
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    let tensor = Tensor<Double>(array)
    precondition(tensor.shape == array.shape)
    if array.dtype == .uint8 || array.dtype == .int64 { _ = array.integers() }
    let encoded: [UInt8]
    do { encoded = try array.encoded() } catch let error as NumpyFileError {
        // A rank in the thousands reads from format 2.0 but is refused by the 1.0 writer.
        guard case .headerTooLong = error.problem else { fatalError("unexpected refusal: \(error)") }
        return 0
    } catch { fatalError("unexpected error type: \(error)") }
    let again = try! NumpyArray(data: encoded, source: "re-encoded")
    precondition(again == array, "round trip changed the array")
    return 0
}
