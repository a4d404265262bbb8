//! The diesel schema, shared by both backends (migrations keep them alike).

diesel::table! {
    users (id) {
        id -> BigInt,
        uuid -> Text,
        email -> Text,
        email_verified -> Bool,
        display_name -> Text,
        given_name -> Text,
        family_name -> Text,
        locale -> Text,
        password_hash -> Nullable<Text>,
        status -> Text,
        allow_sso -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        is_admin -> Bool,
        self_registered -> Bool,
    }
}

diesel::table! {
    accounts (id) {
        id -> BigInt,
        name -> Text,
        owner_user_id -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    account_members (account_id, user_id) {
        account_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    clients (id) {
        id -> BigInt,
        client_id -> Text,
        secret_digest -> Nullable<Text>,
        name -> Text,
        description -> Text,
        logo_uri -> Text,
        grant_types -> Text,
        scopes -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        is_public -> Bool,
        first_party -> Bool,
        bound_account_id -> Nullable<BigInt>,
        id_token_alg -> Text,
        connector -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        may_name_users -> Bool,
        managed_by -> Nullable<Text>,
        backchannel_logout_uri -> Nullable<Text>,
        frontchannel_logout_uri -> Nullable<Text>,
        require_2fa -> Bool,
    }
}

diesel::table! {
    api_credentials (id) {
        id -> BigInt,
        identifier -> Text,
        secret_digest -> Text,
        description -> Text,
        role -> Nullable<Text>,
        actions -> Text,
        allowed_ips -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        user_id -> Nullable<BigInt>,
        client_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        subject -> Nullable<Text>,
        message -> Text,
        details -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        digest -> Text,
        user_id -> BigInt,
        auth_time -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        ip -> Text,
        user_agent -> Text,
        via -> Text,
        amr -> Text,
    }
}

diesel::table! {
    grants (id) {
        id -> BigInt,
        kind -> Text,
        digest -> Text,
        client_id -> Text,
        user_id -> Nullable<BigInt>,
        session_id -> Nullable<BigInt>,
        scope -> Text,
        redirect_uri -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        family -> Nullable<Text>,
        data -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    revoked_families (family) {
        family -> Text,
        revoked_at -> BigInt,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> BigInt,
        client_id -> Text,
        scope -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> BigInt,
        kid -> Text,
        alg -> Text,
        public_jwk -> Text,
        private_enc -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    plugin_kv (plugin, k) {
        plugin -> Text,
        k -> Text,
        v -> Text,
        updated_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    identity_links (plugin, subject) {
        plugin -> Text,
        subject -> Text,
        user_id -> BigInt,
        email -> Nullable<Text>,
        created_at -> BigInt,
        last_login_at -> BigInt,
        refresh_token_enc -> Nullable<Text>,
        checked_at -> Nullable<BigInt>,
        check_lease_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    user_tokens (digest) {
        digest -> Text,
        purpose -> Text,
        user_id -> Nullable<BigInt>,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    user_groups (user_id, name) {
        user_id -> BigInt,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    user_factors (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        name -> Text,
        secret_enc -> Text,
        last_step -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        credential_id -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_codes (user_id, digest) {
        user_id -> BigInt,
        digest -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    user_factors,
    recovery_codes,
    user_groups,
    users,
    accounts,
    account_members,
    clients,
    api_credentials,
    audit_events,
    sessions,
    grants,
    consents,
    signing_keys,
    plugin_kv,
    identity_links,
    revoked_families,
    user_tokens,
);
