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

/// Writes all of `raw` to `descriptor`, in pieces of at most 1 GiB, retrying a write that a
/// signal interrupted; the `errno` of the failure that stopped it, or nil when all were written.
/// The one write loop of the durable writers (AtomicFile, AppendOnlyFile).
func systemWriteAll(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer) -> Int32? {
    var done = 0
    while done < raw.count {
        let n = systemWrite(descriptor, raw.baseAddress! + done, min(raw.count - done, 1 << 30))
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        done += n
    }
    return nil
}
