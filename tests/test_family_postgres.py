"""PostgreSQL server-log family: default and common prefixes, csvlog, zones, kinds."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from pipeline.ingest.families import postgres, postgres_i18n
from tests.helpers import assert_columns, case_params, load_cases, parser_for, utc

FAMILY = postgres.FAMILY
CASES = load_cases("postgres")
parse = parser_for(FAMILY, plain=True, path="postgresql.log", host="pg1")


def test_default_prefix_too_many_clients():
    ev = parse(["2026-11-20 13:45:01.242 UTC [24915] FATAL:  sorry, too many clients already"]).events.row(
        0, named=True
    )
    assert ev["ts"] == utc("2026-11-20 13:45:01.242")
    assert ev["level"] == "CRITICAL"
    assert ev["kind"] == "too_many_connections"
    assert ev["conn_ref"] == "24915"
    assert ev["source"] == "postgres"
    assert ev["message"] == "sorry, too many clients already"
    assert ev["error_code"] is None


@pytest.mark.parametrize("case", case_params(CASES))
def test_lines_parse_into_the_events_of_their_case(case):
    """tests/cases/postgres.toml: kinds, levels, connections, messages and folding, in English
    and localized."""
    assert_columns(parse(case["lines"]).events, case["events"], case["name"])


def test_user_at_db_prefix_and_line_number():
    ev = parse(
        [
            "2026-03-04 18:24:15.242 UTC [24915-2] sherlock@postgres LOG:  connection authorized: user=sherlock database=postgres"
        ]
    ).events
    assert ev["conn_ref"][0] == "24915"
    assert ev["message"][0].startswith("connection authorized")


def test_zone_abbreviations_and_offsets():
    lines = [
        "2026-07-31 13:36:43 EST [835-1] LOG:  autovacuum launcher started",
        "2026-07-31 13:36:43.5 CEST [836] LOG:  x",
        "2026-07-31 13:36:43.123+08 [837] LOG:  y",
        "2026-07-31 13:36:43 GMT [838] LOG:  z",
        "2026-07-31 13:36:43 XYZ [839] LOG:  unknown abbreviation takes the configured zone",
    ]
    assert parse(lines, tz="Europe/Berlin").events["ts"].to_list() == [
        utc("2026-07-31 18:36:43"),
        utc("2026-07-31 11:36:43.500"),
        utc("2026-07-31 05:36:43.123"),
        utc("2026-07-31 13:36:43"),
        utc("2026-07-31 11:36:43"),
    ]


def test_noise_before_first_line_is_rejected():
    parsed = parse(
        ["Wed, Jul 2 2025 4:10:05 pm", "2026-07-02 23:10:05.214 GMT [1152859] FATAL:  sorry, too many clients already"]
    )
    assert parsed.rejects["line_no"].to_list() == [1]
    assert parsed.events.height == 1


def test_sniff():
    assert FAMILY.sniff(["2026-11-20 13:45:01.242 UTC [24915] LOG:  checkpoint starting: time"]) >= 0.9
    assert (
        FAMILY.sniff(
            [
                "2026-11-24 23:50:01,123 - app - ERROR - boom",
                "2026-11-20T13:45:01.123456Z 0 [Note] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections.",
                "2026-11-20 13:45:01 0 [Note] mariadbd: ready for connections.",
            ]
        )
        == 0.0
    )


# --- localized servers (lc_messages) ---------------------------------------------------------
# Real msgstr text from PostgreSQL's catalogues (src/backend/po/<lang>.po, master of 2026-06,
# see postgres_i18n.SOURCES), placeholders filled in: severity words for LOG/FATAL/ERROR, the
# DETAIL and STATEMENT labels as printed (separator included), then the messages
# "database system is ready to accept connections", 'password authentication failed for user
# "%s"', 'Role "%s" does not exist.', "could not receive data from client: %m", "received fast
# shutdown request", 'relation "%s" does not exist'.  (id has no translation of the DETAIL
# message: PostgreSQL prints it in English.)
LOCALIZED = [
    (
        "de",
        "LOG",
        "FATAL",
        "FEHLER",
        "DETAIL:  ",
        "ANWEISUNG:  ",
        "Datenbanksystem ist bereit, um Verbindungen anzunehmen",
        "Passwort-Authentifizierung für Benutzer »app« fehlgeschlagen",
        "Rolle »app« existiert nicht.",
        "konnte Daten vom Client nicht empfangen: Connection reset by peer",
        "schnelles Herunterfahren verlangt",
        "Relation »app« existiert nicht",
    ),
    (
        "es",
        "LOG",
        "FATAL",
        "ERROR",
        "DETALLE:  ",
        "SENTENCIA:  ",
        "el sistema de bases de datos está listo para aceptar conexiones",
        "la autentificación password falló para el usuario «app»",
        "No existe el rol «app».",
        "no se pudo recibir datos del cliente: Connection reset by peer",
        "se recibió petición de apagado rápido",
        "no existe la relación «app»",
    ),
    (
        "fr",
        "LOG",
        "FATAL",
        "ERREUR",
        "DÉTAIL:  ",
        "INSTRUCTION :  ",
        "le système de bases de données est prêt pour accepter les connexions",
        "authentification par mot de passe échouée pour l'utilisateur  « app »",
        "Le rôle « app » n'existe pas.",
        "n'a pas pu recevoir les données du client : Connection reset by peer",
        "a reçu une demande d'arrêt rapide",
        "la relation « app » n'existe pas",
    ),
    (
        "id",
        "LOG",
        "FATAL",
        "ERROR",
        "DETIL:  ",
        "PERNYATAAN:  ",
        "sistem database siap untuk menerima koneksi",
        "password gagal diotentikasi untuk pengguna  « app »",
        'Role "app" does not exist.',
        "tidak dapat menerima data dari klien : Connection reset by peer",
        "menerima permintaan shutdown cepat",
        "relasi « app » tidak ada",
    ),
    (
        "it",
        "LOG",
        "FATALE",
        "ERRORE",
        "DETTAGLI:  ",
        "ISTRUZIONE:  ",
        "il database è pronto ad accettare connessioni",
        'autenticazione con password fallita per l\'utente "app"',
        'Il ruolo "app" non esiste.',
        "ricezione dati dal client fallita: Connection reset by peer",
        "richiesta di arresto fast ricevuta",
        'la relazione "app" non esiste',
    ),
    (
        "ja",
        "LOG",
        "FATAL",
        "ERROR",
        "詳細:  ",
        "文:  ",
        "データベースシステムの接続受け付け準備が整いました",
        'ユーザー"app"のパスワード認証に失敗しました',
        'ロール"app"は存在しません。',
        "クライアントからデータを受信できませんでした: Connection reset by peer",
        "高速シャットダウン要求を受け取りました",
        'リレーション"app"は存在しません',
    ),
    (
        "ka",
        "ჟურნალი",
        "ფატალური",
        "შეცდომა",
        "დეტალები:  ",
        "ოპერატორი:  ",
        "მონაცემთა ბაზის სისტემა მზადაა შეერთებების მისაღებად",
        'პაროლით ავთენტიფიკაცია მომხმარებლისთვის "app" ვერ მოხერხდა',
        'როლი არ არსებობს: "app".',
        "კლიენტიდან მონაცემების მიღების შეცდომა: Connection reset by peer",
        "მიღებულია სწრაფი გამორთვის მოთხოვნა",
        'ურთიერთობა "app" არ არსებობს',
    ),
    (
        "ko",
        "로그",
        "치명적오류",
        "오류",
        "상세정보:  ",
        "명령 구문:  ",
        "이제 데이터베이스 서버로 접속할 수 있습니다",
        '사용자 "app"의 password 인증을 실패했습니다',
        '"app" 롤 없음',
        "클라이언트에게 데이터를 받을 수 없습니다: Connection reset by peer",
        "fast 중지 요청을 받았습니다.",
        '"app" 이름의 릴레이션(relation)이 없습니다',
    ),
    (
        "pl",
        "DZIENNIK",
        "KATASTROFALNY",
        "BŁĄD",
        "SZCZEGÓŁY:  ",
        "WYRAŻENIE:  ",
        "system bazy danych jest gotowy do przyjmowania połączeń",
        'autoryzacja hasłem nie powiodła się dla użytkownika "app"',
        'Rola "app" nie istnieje.',
        "nie można otrzymać danych od klienta: Connection reset by peer",
        "odebrano żądanie szybkiego zamknięcia",
        'relacja "app" nie istnieje',
    ),
    (
        "pt_BR",
        "LOG",
        "FATAL",
        "ERRO",
        "DETALHE:  ",
        "COMANDO:  ",
        "sistema de banco de dados está pronto para aceitar conexões",
        'autenticação do tipo senha falhou para o usuário "app"',
        'A função de banco de dados (role) "app" não existe.',
        "não foi possível receber dados do cliente: Connection reset by peer",
        "pedido de desligamento rápido foi recebido",
        'relação "app" não existe',
    ),
    (
        "ru",
        "СООБЩЕНИЕ",
        "ВАЖНО",
        "ОШИБКА",
        "ПОДРОБНОСТИ:  ",
        "ОПЕРАТОР:  ",
        "система БД готова принимать подключения",
        'пользователь "app" не прошёл проверку подлинности (по паролю)',
        'Роль "app" не существует.',
        "не удалось получить данные от клиента: Connection reset by peer",
        "получен запрос на быстрое выключение",
        'отношение "app" не существует',
    ),
    (
        "sv",
        "LOGG",
        "FATALT",
        "FEL",
        "DETALJ:  ",
        "SATS:  ",
        "databassystemet är redo att ta emot anslutningar",
        'Lösenordsautentisering misslyckades för användare "app"',
        'Rollen "app" finns inte.',
        "kunde inte ta emot data från klient: Connection reset by peer",
        "tog emot förfrågan om att stänga ner snabbt",
        'relationen "app" existerar inte',
    ),
    (
        "tr",
        "LOG",
        "ÖLÜMCÜL (FATAL)",
        "HATA",
        "AYRINTI:",
        "KOMUT:  ",
        "veritabanı sunucusu bağlantı kabul etmeye hazır",
        '"app" kullanıcısı için şifre doğrulaması başarısız oldu',
        '"app" rolü mevcut değil.',
        "istemciden veri alınamamıştır: Connection reset by peer",
        "hızlı kapatma isteği alındı",
        '"app" nesnesi mevcut değil',
    ),
    (
        "uk",
        "ЗАПИСУВАННЯ",
        "ФАТАЛЬНО",
        "ПОМИЛКА",
        "ВІДОМОСТІ:  ",
        "ІНСТРУКЦІЯ:  ",
        "система бази даних готова до отримання підключення",
        'користувач "app" не пройшов автентифікацію за допомогою пароля',
        'Роль "app" не існує.',
        "не вдалось отримати дані від клієнта: Connection reset by peer",
        "отримано швидкий запит на завершення роботи",
        'відношення "app" не існує',
    ),
    (
        "zh_CN",
        "日志",
        "致命错误",
        "错误",
        "详细信息:  ",
        "语句:  ",
        "数据库系统准备接受连接",
        '用户 "app" Password 认证失败',
        '角色 "app" 不存在。',
        "无法从客户端获得数据: Connection reset by peer",
        "接收到快速 (fast) 停止请求",
        '关系 "app" 不存在',
    ),
]


@pytest.mark.parametrize("case", LOCALIZED, ids=[c[0] for c in LOCALIZED])
def test_localized_levels_kinds_and_folding(case):
    _lang, log, fatal, error, detail, statement, ready, password, role, recv, fast, relation = case
    lines = [
        f"2026-11-20 13:45:01.000 UTC [101] {log}:  {ready}",
        f"2026-11-20 13:45:02.000 UTC [102] {fatal}:  {password}",
        f"2026-11-20 13:45:02.000 UTC [102] {detail}{role}",
        f"2026-11-20 13:45:03.000 UTC [103] {log}:  {recv}",
        f"2026-11-20 13:45:04.000 UTC [104] {error}:  42P01: {relation}",
        f"2026-11-20 13:45:04.000 UTC [104] {statement}select * from app;",
        f"2026-11-20 13:45:05.000 UTC [1] {log}:  {fast}",
    ]
    parsed = parse(lines)
    ev = parsed.events
    assert parsed.rejects.height == 0
    assert ev["kind"].to_list() == ["server_start", "access_denied", "connection_reset", "other", "server_stop"]
    assert ev["level"].to_list() == ["INFO", "CRITICAL", "INFO", "ERROR", "INFO"]
    assert ev["n_lines"].to_list() == [1, 2, 1, 2, 1]
    assert ev["message"].to_list() == [ready, password, recv, relation, fast]
    assert ev["conn_ref"].to_list() == ["101", "102", "103", "104", "1"]
    assert FAMILY.sniff(lines) >= 0.9


@pytest.mark.parametrize(
    "word,level",
    [
        ("FEHLER", "ERROR"),
        ("HINWEIS", "INFO"),
        ("WARNUNG", "WARNING"),
        ("PANIK", "CRITICAL"),
        ("ВАЖНО", "CRITICAL"),
        ("СООБЩЕНИЕ", "INFO"),
        ("ПАНИКА", "CRITICAL"),
        ("ОТЛАДКА", "DEBUG"),
        ("ERREUR", "ERROR"),
        ("ATTENTION", "WARNING"),
        ("ÖLÜMCÜL (FATAL)", "CRITICAL"),
        ("BŁĄD", "ERROR"),
        ("致命错误", "CRITICAL"),
        ("치명적오류", "CRITICAL"),
        ("ЗАПИСУВАННЯ", "INFO"),
        ("LOGG", "INFO"),
    ],
)
def test_localized_severity_words(word, level):
    ev = parse([f"2026-11-20 13:45:01.000 UTC [7] {word}:  x"]).events
    assert ev["level"].to_list() == [level]
    assert ev["message"].to_list() == ["x"]


def test_localized_csvlog_level():
    line = (
        '2026-01-04 00:05:58.232 MSK,"app","app",36,"10.0.0.1:42326",5ff25be6.24,2,"authentication",'
        '2026-01-04 00:05:58 MSK,3/9,0,ВАЖНО,28P01,"пользователь ""app"" не прошёл проверку подлинности (по паролю)",'
        '"Роль ""app"" не существует.",,,,,,,,""'
    )
    ev = parse([line]).events
    assert ev["level"].to_list() == ["CRITICAL"]
    assert ev["kind"].to_list() == ["access_denied"]
    assert ev["message"].to_list() == ['пользователь "app" не прошёл проверку подлинности (по паролю)']


def test_english_lines_never_take_the_localized_path():
    # a translated pattern must not pull an English message out of "other"
    assert parse(["2026-11-20 13:45:01 UTC [9] LOG:  checkpoint starting: time"]).events["kind"].to_list() == ["other"]
    assert all(not re.search(rx, "checkpoint starting: time") for rx, _ in postgres.KIND_RULES_I18N)


# --- the generated table ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_postgres_i18n", ROOT / "scripts" / "gen_postgres_i18n.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_generated_module_is_the_generators_output():
    gen = _generator()
    text = (ROOT / "pipeline" / "ingest" / "families" / "postgres_i18n.py").read_text(encoding="utf-8")
    assert gen.render(gen.table_of_module(postgres_i18n)) == text


def test_generated_module_names_its_catalogues():
    main = postgres_i18n.SOURCES[0]
    assert re.fullmatch(r"[0-9a-f]{40}", main["commit"])
    assert main["version"].startswith("PostgreSQL ")
    assert {"de", "fr", "es", "it", "pt_BR", "ru", "ja", "zh_CN"} <= set(postgres_i18n.LANGUAGES)
    for lang, rows in postgres_i18n.KIND_PATTERNS.items():
        assert len(rows) >= 30, lang
        for kind, rx, _msgid in rows:
            assert kind in {k for _, k in postgres.KIND_RULES}
            assert rx.startswith("^") and rx.endswith("$")
            re.compile(rx)


# a few entries of de.po as the catalogue has them (source comments shortened)
MINI_PO = r"""msgid ""
msgstr ""
"Project-Id-Version: PostgreSQL 19\n"
"Language: de\n"

#: utils/error/elog.c:3714
msgid "HINT:  "
msgstr "TIPP:  "

#: utils/error/elog.c:3745
#, c-format
msgid "LOCATION:  %s, %s:%d\n"
msgstr "ORT:  %s, %s:%d\n"

#: utils/error/elog.c:4185
msgid "ERROR"
msgstr "FEHLER"

#: libpq/auth.c:283
#, c-format
msgid "password authentication failed for user \"%s\""
msgstr "Passwort-Authentifizierung für Benutzer »%s« fehlgeschlagen"

#: postmaster/postmaster.c:2830
#, c-format
msgid "%s (PID %d) was terminated by signal %d: %s"
msgstr "%s (PID %d) wurde von Signal %d beendet: %s"

#: tcop/postgres.c:1
#, c-format, fuzzy
msgid "connection to client lost"
msgstr "Verbindung zum Client wurde verloren"

#: commands/foo.c:1
msgid "checkpoint starting:%s%s%s%s%s%s%s%s"
msgstr "Checkpoint beginnt:%s%s%s%s%s%s%s%s"
"""


def test_generator_extracts_and_is_deterministic(tmp_path):
    gen = _generator()
    (tmp_path / "de.po").write_text(MINI_PO, encoding="utf-8")
    build = lambda: gen.build([gen.load_source(str(tmp_path), ("de",))], postgres.KIND_RULES)  # noqa: E731
    table = build()
    assert table.severities == {"FEHLER": "ERROR"}
    assert table.labels == {"ORT:  ": "LOCATION", "TIPP:  ": "HINT"}
    assert table.patterns == {
        "de": [
            (
                "access_denied",
                "^Passwort-Authentifizierung für Benutzer ».*« fehlgeschlagen$",
                'password authentication failed for user "%s"',
            ),
            (
                "server_stop",
                r"^.* \(PID -?\d+\) wurde von Signal -?\d+ beendet: .*$",
                "%s (PID %d) was terminated by signal %d: %s",
            ),
        ]
    }  # the fuzzy entry and the unclassified message are left out
    assert table.sources[0]["version"] == "PostgreSQL 19"
    assert gen.render(build()) == gen.render(table)


def test_pid_colon_line_number_without_space():
    # '%t [%p]:[%l-1] user=%u,db=%d,client=%h ' (pgbadger's example prefix), pt_BR server
    lines = [
        "2016-07-20 12:57:20 BRT [19530]:[1-1] user=[desconhecido],db=[desconhecido],client= LOG:  "
        "conexão recebida: host=172.16.3.238 porta=51814",
        "2016-07-20 12:57:20 BRT [19530]:[2-1] user=pje_2i,db=pje,client=172.16.3.238 LOG:  "
        "connection authorized: user=pje_2i host=172.16.3.238",
    ]
    ev = parse(lines).events
    assert ev["conn_ref"].to_list() == ["19530", "19530"]
    assert ev["message"][0] == "conexão recebida: host=172.16.3.238 porta=51814"
