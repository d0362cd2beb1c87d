/// Stops with a message that survives `-c release` (a bare `precondition` prints only
/// "precondition failure" there): for misuse by the programmer, never for data. Package API:
/// the modules of Isometry share it, a user's namespace does not get it.
package func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
