#if canImport(CoreML) && canImport(Vision)
// `import HairNetKit` gives the decoding types too.
@_exported import HairNetCore
#endif
