//! Result Code AVP values (RFC 2661 4.4.2, RFC 3931 5.4.2 and 10.3, plus
//! the service-specific codes IANA lists) and the general Error Codes.
//!
//! Result codes are scoped by message: the same number means different
//! things in a StopCCN and in a CDN, hence two enums. Each keeps unknown
//! numbers (`Other`) so decoding never fails on a code from a newer RFC.

code_enum! {
    /// Result Code values carried in a StopCCN.
    StopCcnResult {
        Reserved = 0 => "Reserved",
        GeneralClear = 1 => "General request to clear control connection",
        GeneralError = 2 => "General error, Error Code indicates the problem",
        AlreadyExists = 3 => "Control connection already exists",
        NotAuthorized = 4 => "Requester is not authorized to establish a control connection",
        UnsupportedVersion = 5 => "The protocol version of the requester is not supported, Error Code indicates highest version supported",
        ShuttingDown = 6 => "Requester is being shut down",
        FsmError = 7 => "Finite state machine error or timeout",
        /// RFC 3308 (CCDS).
        CcdsMismatch = 8 => "Control connection due to mismatching CCDS value",
    }
}

code_enum! {
    /// Result Code values carried in a CDN.
    CdnResult {
        Reserved = 0 => "Reserved",
        LostCarrier = 1 => "Session disconnected due to loss of carrier or circuit disconnect",
        GeneralError = 2 => "Session disconnected for the reason indicated in Error Code",
        Administrative = 3 => "Session disconnected for administrative reasons",
        TemporaryNoFacilities = 4 => "Session establishment failed due to lack of appropriate facilities being available (temporary condition)",
        PermanentNoFacilities = 5 => "Session establishment failed due to lack of appropriate facilities being available (permanent condition)",
        InvalidDestination = 6 => "Invalid destination",
        NoCarrier = 7 => "Call failed due to no carrier detected",
        Busy = 8 => "Call failed due to detection of a busy signal",
        NoDialTone = 9 => "Call failed due to lack of a dial tone",
        Timeout = 10 => "Call was not established within time allotted by LAC",
        NoFraming = 11 => "Call was connected but no appropriate framing was detected",
        /// RFC 3308 (SDS).
        SdsMismatch = 12 => "Disconnecting call due to mismatching SDS value",
        /// RFC 3931.
        LostTieBreaker = 13 => "Session not established due to losing tie breaker",
        /// RFC 3931.
        UnsupportedPwType = 14 => "Session not established due to unsupported PW type",
        /// RFC 3931.
        SequencingWithoutSublayer = 15 => "Session not established, sequencing required without valid L2-Specific Sublayer",
        /// RFC 3931.
        FsmError = 16 => "Finite state machine error or timeout",
        /// RFC 4591.
        FrPvcDeleted = 17 => "FR PVC was deleted permanently (no longer provisioned)",
        /// RFC 4591.
        FrPvcInactive = 18 => "FR PVC has been INACTIVE for an extended period of time",
        /// RFC 4591.
        FrHeaderLengthMismatch = 19 => "Mismatched FR Header Length",
        /// RFC 4349.
        HdlcDeleted = 20 => "HDLC Link was deleted permanently (no longer provisioned)",
        /// RFC 4349.
        HdlcInactive = 21 => "HDLC Link has been INACTIVE for an extended period of time",
        /// RFC 4454.
        OamEmulationUnsupported = 22 => "Session not established due to other LCCE can not support the OAM Cell Emulation",
        /// RFC 4623.
        MtuMismatch = 23 => "Mismatching interface MTU",
        /// RFC 4667.
        NonExistentForwarder = 24 => "Attempt to connect to non-existent forwarder",
        /// RFC 4667.
        UnauthorizedForwarder = 25 => "Attempt to connect to unauthorized forwarder",
        /// RFC 4667.
        LoopDetected = 26 => "Loop Detected",
        /// RFC 4667.
        AcBoundToDifferentPe = 27 => "Attachment Circuit bound to different PE",
        /// RFC 4667.
        AcBoundToDifferentRemoteAc = 28 => "Attachment Circuit bound to different remote Attachment Circuit",
        /// RFC 5611.
        TdmPwParameters = 30 => "Connection refused because of TDM PW parameters, Error Code indicates the problem",
        /// RFC 6073.
        SequencingNotSupported = 31 => "Sequencing not supported",
    }
}

code_enum! {
    /// General Error Code values (second field of the Result Code AVP).
    ErrorCode {
        NoError = 0 => "No general error",
        NoControlConnection = 1 => "No control connection exists yet for this pair of LCCEs",
        BadLength = 2 => "Length is wrong",
        OutOfRange = 3 => "One of the field values was out of range or reserved field was non-zero",
        InsufficientResources = 4 => "Insufficient resources to handle this operation now",
        InvalidSessionId = 5 => "Invalid Session ID",
        VendorSpecific = 6 => "A generic vendor-specific error occurred",
        TryAnother = 7 => "Try another",
        UnknownMandatoryAvp = 8 => "Session or control connection was shut down due to receipt of an unknown AVP with the M bit set",
        /// RFC 3931.
        TryAnotherDirected = 9 => "Try another directed",
        /// IANA-registered tunnel-switching codes (10-12).
        NextHopUnreachable = 10 => "Next hop unreachable",
        NextHopBusy = 11 => "Next hop busy",
        TsaBusy = 12 => "TSA busy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown() {
        for r in CdnResult::ALL {
            assert_eq!(CdnResult::from_u16(r.to_u16()), *r);
        }
        for r in StopCcnResult::ALL {
            assert_eq!(StopCcnResult::from_u16(r.to_u16()), *r);
        }
        assert_eq!(CdnResult::from_u16(29), CdnResult::Other(29));
        assert_eq!(ErrorCode::from_u16(8), ErrorCode::UnknownMandatoryAvp);
        assert_eq!(StopCcnResult::GeneralClear.to_u16(), 1);
        assert_eq!(CdnResult::LostTieBreaker.to_u16(), 13);
    }
}
