import Datasets
import Testing
import TensorAlgebra

@Suite struct GatherTests {
    let images = LabeledImages(pixels: [0, 255, 51, 102, 10, 20], labels: [0, 1, 1], imageShape: [2], classes: 2)

    @Test func gatherScalesPixelsAndZeroesTheClassColumns() {
        var batch = Tensor<Double>(shape: [2, 4], scalars: [Double](repeating: 7, count: 8))
        images.gather([2, 0][...], into: &batch)
        #expect(batch.scalars == [10.0 / 255, 20.0 / 255, 0, 0, 0, 1, 0, 0])
    }

    @Test func anIndexOutOfRangeStopsNamingIt() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let images = LabeledImages(pixels: [0, 255, 51, 102, 10, 20], labels: [0, 1, 1], imageShape: [2], classes: 2)
            var batch = Tensor<Float>.zeros([1, 4])
            images.gather([3][...], into: &batch)
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("gather: image index 3 is out of range for 3 images"))
    }
}
