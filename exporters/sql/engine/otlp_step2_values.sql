-- Step 2: every KeyValue of the request converted once into flat arrays: r_all_k (key), r_all_t
-- (type), r_all_j (JSON), r_all_sv, r_all_bv, r_all_iv, r_all_dv (scalars), r_all_len (children).
SELECT
    * EXCEPT (request_kv),
${request_arrays}
FROM ${prev}
