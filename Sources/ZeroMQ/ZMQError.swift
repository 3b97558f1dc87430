import CZeroMQ

/// A libzmq call failed. `code` is the errno value libzmq reported.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The error libzmq left in errno for the call that just failed.
    static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }

    public var description: String {
        "\(operation): \(String(cString: zmq_strerror(code)))"
    }

    public var isAddressInUse: Bool { code == EADDRINUSE }
}
