// libFuzzer target for the safetensors reader (SafetensorsFile(data:)); built and run by
// Scripts/fuzz.sh. Whatever the bytes, the reader must return or throw SafetensorsError. What it
// accepts must convert to tensors and round-trip through the writer (which adds checksums), and
// then go through the classifier checkpoint's validator (Networks' `Checkpoint`): it must
// return a classifier whose forward pass runs, or throw `ModelFileError`.
import Networks
import TensorAlgebra
import FileFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let file: SafetensorsFile
    do {
        file = try SafetensorsFile(data: bytes, source: "fuzz")
    } catch let error as SafetensorsError {
        _ = error.description
        return 0
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    for (name, entry) in file.entries {
        let tensor: Tensor<Double> = file.tensor(name)!
        precondition(tensor.shape == entry.shape)
    }
    let again = try! SafetensorsFile(data: file.encoded(), source: "re-encoded")
    precondition(again.metadata == file.metadata, "round trip changed the metadata")
    precondition(Set(again.entries.keys) == Set(file.entries.keys), "round trip changed the names")
    for (name, entry) in file.entries {
        let other = again.entries[name]!
        precondition(other.bytes == entry.bytes && other.shape == entry.shape && other.dtype == entry.dtype)
    }
    do {
        let classifier: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "fuzz")
        let logits = classifier.logits(Tensor<Float>.zeros([1, classifier.width]))
        precondition(logits.shape == [1, classifier.classes])
    } catch {
        _ = error.description  // a typed ModelFileError: fine
    }
    return 0
}
