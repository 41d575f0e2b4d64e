//! A fleet of clients, one instance each, ten methods: what the instance
//! figures of issue 24 are measured on (the `instances` bench and the
//! `fleet` example share it).

use reliability_core::{reliable, Instance};

/// Instances the figures are measured with: the default cap per component.
pub const INSTANCES: usize = 1_000;

/// One client per host.
pub struct Client {
    reliability: Instance,
}

#[derive(Debug)]
pub struct ClientError;

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("client error")
    }
}

impl std::error::Error for ClientError {}

#[reliable(component = "fleet", instance = reliability)]
impl Client {
    fn m0(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(0)
        }
    }
    fn m1(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(1)
        }
    }
    fn m2(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(2)
        }
    }
    fn m3(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(3)
        }
    }
    fn m4(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(4)
        }
    }
    fn m5(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(5)
        }
    }
    fn m6(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(6)
        }
    }
    fn m7(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(7)
        }
    }
    fn m8(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(8)
        }
    }
    fn m9(&self, fail: bool) -> Result<u8, ClientError> {
        if fail {
            Err(ClientError)
        } else {
            Ok(9)
        }
    }
}

/// `n` clients, `host-0000` on.
pub struct Fleet(pub Vec<Client>);

impl Fleet {
    pub fn new(n: usize) -> Self {
        Self::numbered(0, n)
    }

    /// `n` clients, numbered from `first`.
    pub fn numbered(first: usize, n: usize) -> Self {
        Fleet(
            (first..first + n)
                .map(|i| Client {
                    reliability: Instance::new(format!("host-{i:04}")),
                })
                .collect(),
        )
    }

    /// Every method of every client, ten times, one call in ten failing.
    pub fn call_every_method(&self) {
        for round in 0..10 {
            let fail = round == 9;
            for client in &self.0 {
                let _ = black(client.m0(fail));
                let _ = black(client.m1(fail));
                let _ = black(client.m2(fail));
                let _ = black(client.m3(fail));
                let _ = black(client.m4(fail));
                let _ = black(client.m5(fail));
                let _ = black(client.m6(fail));
                let _ = black(client.m7(fail));
                let _ = black(client.m8(fail));
                let _ = black(client.m9(fail));
            }
        }
    }
}

fn black<T>(value: T) -> T {
    std::hint::black_box(value)
}
