"""Error messages of the API (one place, asserted verbatim by the tests)."""

MISSING_KEY = "Clé d'API absente ou invalide (en-tête X-API-Key)."
FORBIDDEN = "Cette clé d'API n'a pas le rôle requis pour cette route."
RATE_LIMITED = "Trop de requêtes pour cette clé : réessayez après le délai indiqué (Retry-After)."
MODEL_UNAVAILABLE = "Le modèle demandé n'est pas chargé : réessayez plus tard ou contactez l'administrateur."
INVALID_REQUEST = "Requête invalide : voir le détail des champs."
NO_VALID_RECORD = "Aucun enregistrement valide dans la requête : voir les erreurs par enregistrement."
UNKNOWN_CODE = "Code d'activité ou de commune inconnu : voir les codes proches."
BAD_CSV = (
    "Fichier CSV illisible : une ligne d'en-tête, un séparateur , ; tabulation ou | et du texte UTF-8 "
    "sont attendus."
)
BAD_XLSX = (
    "Classeur Excel (.xlsx) illisible : un classeur dont la première feuille porte une ligne d'en-tête "
    "des colonnes est attendu."
)
UNKNOWN_MODEL = "Modèle inconnu : la liste des modèles servis est donnée par GET /v1/models."
INVALID_RELATED = "Table associée invalide (par exemple les contrats passés) : voir les erreurs par ligne."
NOT_FOUND = "Ressource introuvable."
SIGN_IN_REQUIRED = "Connexion requise : ouvrez /diagnostic et saisissez votre clé."

# Impossible records (reasons of a record's error: the field is named beside them, never its value).
SIRET_SHAPE = "SIRET invalide : 14 chiffres de 0 à 9 attendus."
SIRET_KEY = "SIRET invalide : sa clé de contrôle (Luhn) est fausse."
NAF_SHAPE = "Code NAF invalide : une sous-classe NAF rév. 2 est attendue (par exemple 43.22A)."
UNKNOWN_NAF = "Code NAF inconnu : ce n'est pas une sous-classe de la NAF rév. 2 (par exemple 43.22A)."
COMMUNE_SHAPE = "Code commune invalide : un code INSEE à 5 caractères est attendu (par exemple 69384)."
UNKNOWN_COMMUNE = "Code commune inconnu : ce n'est pas un code INSEE du COG (par exemple 69384)."
DATE_NOT_AFTER = "Date impossible : elle doit être postérieure à {other}"
DATE_BEFORE = "Date impossible : elle ne peut pas être antérieure à {other}"
DATE_NOT_BEFORE = "Date impossible : elle doit être antérieure à {other}"
DATE_AFTER = "Date impossible : elle ne peut pas être postérieure à {other}"
OR_TODAY = " (ou à la date du jour quand elle est absente)"

# CSV and .xlsx bodies and uploads.
CSV_TOO_MANY_ROWS = (
    "Fichier trop long : {rows} lignes de données pour {limit} au plus ({over} de trop) ; "
    "découpez-le en plusieurs fichiers."
)
CSV_NO_ROWS = "aucune ligne de données sous l'en-tête"
CSV_RAGGED = "Ligne illisible : elle compte {fields} champs quand l'en-tête en nomme {expected}."
BAD_UPLOAD = (
    "Envoi illisible : un formulaire multipart/form-data portant le fichier CSV ou .xlsx dans le champ "
    "`file` est attendu."
)
UNKNOWN_NAF_CODE = "Code NAF (activité) inconnu : voir les codes proches."
UNKNOWN_COMMUNE_CODE = "Code commune INSEE inconnu : voir les codes proches."
