import Datasets
import Foundation
import Testing
import TensorAlgebra
