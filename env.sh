export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_lead
export TEST_REDIS_URL=redis://127.0.0.1:6379/5
