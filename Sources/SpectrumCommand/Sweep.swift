import ArgumentParser
import Foundation

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sweep a grid of σ × q0 (see docs/sweeps.md).")
    func run() throws { throw UserError(message: "sweep: not built yet") }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join sweep shards into one CSV and heat map.")
    func run() throws { throw UserError(message: "merge: not built yet") }
}
