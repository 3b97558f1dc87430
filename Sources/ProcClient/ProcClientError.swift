import ProcCore

/// A client request failed. A struct wrapping a code, so new codes do not break users.
public struct ProcClientError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Value: String { case unreachable, badAddress, rejected, notFound, protocolError, closed, unauthorized, forbidden, timedOut }
        fileprivate let value: Value
        public static let unreachable = Code(value: .unreachable)
        public static let badAddress = Code(value: .badAddress)
        /// The coordinator refused the request (bad input); the message says why.
        public static let rejected = Code(value: .rejected)
        public static let notFound = Code(value: .notFound)
        public static let protocolError = Code(value: .protocolError)
        public static let closed = Code(value: .closed)
        /// The security handshake failed: the coordinator refused this key, or the keys do not fit.
        public static let unauthorized = Code(value: .unauthorized)
        /// The key's role does not allow the request (an observer submitting, say).
        public static let forbidden = Code(value: .forbidden)
        /// A wait given a timeout (`join(timeout:)`) ended before the job did.
        public static let timedOut = Code(value: .timedOut)
        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ reply: ErrorReply) {
        let code: Code = switch reply.code {
        case "not_found": .notFound
        case "forbidden": .forbidden
        default: .rejected
        }
        self.init(code, reply.message)
    }

    public var description: String { message }
}
