#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The C library's `write(2)`, whichever C library this platform has (glibc, or musl for the
/// static Linux SDK). The writers call it by this name because a type of theirs has `write`
/// methods that would shadow it, and a module-qualified `Glibc.write` does not build on musl.
@inline(__always)
func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(descriptor, bytes, count)
    #elseif canImport(Musl)
    Musl.write(descriptor, bytes, count)
    #endif
}
