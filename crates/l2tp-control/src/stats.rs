//! Counters.

/// Per control connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelStats {
    /// Distinct control messages sent (first transmissions).
    pub tx_messages: u64,
    /// Retransmissions.
    pub retransmissions: u64,
    /// ZLB/ACK acknowledgements sent.
    pub tx_acks: u64,
    /// Control messages received that passed authentication (including
    /// duplicates, excluding ZLB/ACK).
    pub rx_messages: u64,
    /// ZLB/ACK acknowledgements received.
    pub rx_acks: u64,
    /// Received messages seen before (re-acknowledged).
    pub duplicates: u64,
    /// Received messages queued behind a gap.
    pub out_of_order: u64,
    /// Received messages beyond our receive window (dropped).
    pub out_of_window: u64,
    /// Messages dropped because the Message Digest did not verify or was
    /// missing.
    pub bad_digest: u64,
    /// Messages that could not be parsed.
    pub malformed: u64,
    /// Messages dropped because Nr acknowledged something never sent.
    pub invalid_nr: u64,
    /// Messages from an unexpected source address (dropped).
    pub wrong_source: u64,
    pub hellos_sent: u64,
    /// Largest number of our messages unacknowledged on the wire at once.
    pub max_in_flight: u64,
    /// Current congestion window, slow-start threshold and peer window.
    pub cwnd: u16,
    pub ssthresh: u16,
    pub peer_window: u16,
    /// Messages sent or queued, not yet acknowledged.
    pub unacked: usize,
    /// Sessions currently known on this connection.
    pub sessions: usize,
}

/// Endpoint-wide: datagrams that belong to no control connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub rx_datagrams: u64,
    /// Not an L2TP control message or not parseable.
    pub rx_malformed: u64,
    /// Data messages handed to the control plane (ignored).
    pub rx_data: u64,
    /// Control Connection ID matches no connection.
    pub rx_unknown_tunnel: u64,
    /// New SCCRQs whose Message Digest failed (or was missing).
    pub bad_digest: u64,
    /// SCCRQs refused with a StopCCN (policy, limits, errors).
    pub rejected: u64,
    /// L2TPv2 SCCRQs answered with "unsupported protocol version".
    pub v2_rejected: u64,
    /// Simultaneous-SCCRQ ties resolved in our favour / the peer's / equal.
    pub tie_won: u64,
    pub tie_lost: u64,
    pub tie_equal: u64,
    /// Stateless replies sent (rejections, tie-break StopCCNs).
    pub stateless_replies: u64,
}
