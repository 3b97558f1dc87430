import ProcCore

/// A client request failed. A struct wrapping a code, so new codes do not break users.
public struct ProcClientError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Value: String { case unreachable, badAddress, rejected, notFound, protocolError, closed }
        fileprivate let value: Value
        public static let unreachable = Code(value: .unreachable)
        public static let badAddress = Code(value: .badAddress)
        /// The coordinator refused the request (bad input); the message says why.
        public static let rejected = Code(value: .rejected)
        public static let notFound = Code(value: .notFound)
        public static let protocolError = Code(value: .protocolError)
        public static let closed = Code(value: .closed)
        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ reply: ErrorReply) {
        self.init(reply.code == "not_found" ? .notFound : .rejected, reply.message)
    }

    public var description: String { message }
}
