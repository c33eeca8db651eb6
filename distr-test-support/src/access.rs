//! In-process tenancy fixtures for the tests that assemble the service
//! around `distr-core`'s stores (`distr-hyper`'s tests): an organisation,
//! its vendor admin, any user with a token, written straight into an
//! [`AccessStore`] (the management API manages what is below a vendor, not
//! vendors themselves).

use distr_core::access::{
    AccessStore, Customer, Org, OrgId, PlainToken, Role, TokenId, TokenRecord, User, UserId,
};

/// The organisation `slug` (its name too), created in `store`.
pub async fn org(store: &dyn AccessStore, slug: &str) -> Org {
    let o = Org {
        id: OrgId::new(),
        slug: slug.into(),
        name: slug.into(),
        created_at_ms: 0,
    };
    store.create_org(&o).await.expect("create the organisation");
    o
}

/// A new user of `org` (of `customer`, if given) with `role` and one token
/// named `t`; returns the token's secret and its record. The e-mail is
/// unique (`<user id>@test`).
pub async fn user_token(
    store: &dyn AccessStore,
    org: &Org,
    customer: Option<&Customer>,
    role: Role,
) -> (String, TokenRecord) {
    let user = User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: customer.map(|c| c.id),
        email: format!("{}@test", UserId::new()),
        role,
        created_at_ms: 0,
    };
    store.create_user(&user).await.expect("create the user");
    let secret = PlainToken::generate().expect("generate a token");
    let record = TokenRecord {
        id: TokenId::new(),
        user_id: user.id,
        name: "t".into(),
        hash: secret.hash(),
        expires_at_ms: None,
        last_used_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: 0,
    };
    store.create_token(&record).await.expect("create the token");
    (secret.expose().to_owned(), record)
}

/// A new vendor admin of `org`: the secret of their token.
pub async fn vendor_admin(store: &dyn AccessStore, org: &Org) -> String {
    user_token(store, org, None, Role::VendorAdmin).await.0
}
